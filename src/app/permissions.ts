// Who may do what, per A-ASSOCIATE-RQ: `[server] accept` for callers that are not
// [[known_ae]]; a known AE's `allow` (services), `hosts` (addresses) and `tls_name`
// (certificate). Replaced as a whole on reload; open associations keep what they got.
import type { Config } from "../config.ts";
import type { Connection } from "../core/ports.ts";
import { callerRefusal, type CallerRule } from "../core/security/caller_check.ts";
import { permissionOf, permittedServices } from "../core/security/service_permissions.ts";
import type { DimseService } from "../core/dimse/service_contract.ts";
import type { AcceptorPolicy } from "../core/ul/negotiation.ts";

interface KnownCaller extends CallerRule {
  allow?: readonly string[];
}

export class Permissions {
  #accept: Config["server"]["accept"];
  #known: Map<string, KnownCaller>;
  /** Abstract syntax UID -> the service ("echo", "store", ...) that serves it. */
  readonly #serviceOf: ReadonlyMap<string, string>;

  constructor(config: Config, services: readonly DimseService[]) {
    const serviceOf = new Map<string, string>();
    for (const s of services) {
      for (const syntax of s.syntaxes()) serviceOf.set(syntax.abstractSyntax, permissionOf(s.name));
    }
    this.#serviceOf = serviceOf;
    this.#accept = config.server.accept;
    this.#known = Permissions.#knownOf(config);
  }

  static #knownOf(config: Config): Map<string, KnownCaller> {
    return new Map(config.knownAe.map((k) => [k.aeTitle, k]));
  }

  /** The reloaded [[known_ae]] list applies to the next associations. */
  setKnownAe(config: Config): void {
    this.#known = Permissions.#knownOf(config);
  }

  /** The parts of the acceptor policy that depend on who calls and how. */
  policyFor(
    callingAeTitle: string,
    conn: Connection,
  ): Pick<AcceptorPolicy, "callerRefused" | "refusedService"> {
    const calling = callingAeTitle.trim();
    const known = this.#known.get(calling);
    const refused = callerRefusal(known, conn.remote, conn.security);
    const permitted = permittedServices(this.#accept, known !== undefined, known?.allow);
    return {
      callerRefused: refused ?? undefined,
      refusedService: permitted
        ? (uid) => {
          const service = this.#serviceOf.get(uid);
          return service !== undefined && !permitted.has(service) ? service : undefined;
        }
        : undefined,
    };
  }
}
