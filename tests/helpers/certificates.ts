// Test certificates made with the openssl command: a CA, a server certificate for
// localhost/127.0.0.1, client certificates (one per name), one from another CA, an expired one.
import { hasTool, run } from "./server.ts";

export interface CertificateSet {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Makes a client (or server) certificate signed by the CA; returns its files. */
  issue(name: string, options?: IssueOptions): Promise<{ cert: string; key: string }>;
  /** A second CA's certificate and a client certificate it signed (CN = `name`). */
  otherCa(name: string): Promise<{ ca: string; cert: string; key: string }>;
}

export interface IssueOptions {
  /** subjectAltName, e.g. "DNS:ct1.example"; default DNS:<name>. */
  san?: string;
  /** Days valid; -1 makes one that expired yesterday. */
  days?: number;
  /** Signed by this CA instead (its .crt/.key without extension). */
  caBase?: string;
  /** File name (without extension); default from the name. */
  file?: string;
}

export function hasOpenssl(): boolean {
  return hasTool("openssl");
}

async function openssl(args: string[]): Promise<void> {
  const r = await run("openssl", args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
}

async function makeCa(base: string, cn: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${base}.key`,
    "-out",
    `${base}.crt`,
    "-days",
    "30",
    "-subj",
    `/CN=${cn}`,
  ]);
}

/** Makes a CA and a server certificate under `dir`. */
export async function makeCertificates(dir: string): Promise<CertificateSet> {
  await Deno.mkdir(dir, { recursive: true });
  const caBase = `${dir}/ca`;
  await makeCa(caBase, "MiniPACS Test CA");
  const issue = async (name: string, o: IssueOptions = {}) => {
    const file = o.file ?? `${name}${o.days === -1 ? "-expired" : ""}`;
    const base = `${dir}/${file.replace(/[^\w.-]/g, "_")}`;
    await openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    await Deno.writeTextFile(`${base}.ext`, `subjectAltName=${o.san ?? `DNS:${name}`}\n`);
    const signer = o.caBase ?? caBase;
    await openssl([
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      `${signer}.crt`,
      "-CAkey",
      `${signer}.key`,
      "-CAcreateserial",
      "-out",
      `${base}.crt`,
      "-days",
      String(o.days ?? 30),
      "-extfile",
      `${base}.ext`,
    ]);
    return { cert: `${base}.crt`, key: `${base}.key` };
  };
  const server = await issue("localhost", { san: "DNS:localhost,IP:127.0.0.1" });
  return {
    dir,
    ca: `${caBase}.crt`,
    serverCert: server.cert,
    serverKey: server.key,
    issue,
    async otherCa(name: string) {
      const other = `${dir}/other-ca`;
      await makeCa(other, "Other Test CA");
      const c = await issue(name, { caBase: other, file: `other-${name}` });
      return { ca: `${other}.crt`, ...c };
    },
  };
}

/** Runs `fn` with a fresh CA and server certificate in a temporary folder, removed afterwards. */
export async function withCertificates<T>(fn: (c: CertificateSet) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-certs-" });
  try {
    return await fn(await makeCertificates(dir));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
