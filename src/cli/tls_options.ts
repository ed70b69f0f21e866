// --tls, --cert, --cert-key (--key), --ca: the SCU commands over DICOM TLS (PS3.15 B.9), the
// peer's certificate verified against --ca (else the system's CAs) and its name against the
// host. `find` has its own --key (a query key): there the private key is --cert-key only.
import type { ParseArgsOptionsConfig } from "node:util";
import type { Connector } from "../core/ports.ts";
import { tcpConnector } from "../net/tcp.ts";
import { loadTlsMaterial, tlsConnector, TlsFileError } from "../net/tls.ts";
import { type OptionValue, stringOption, UsageError } from "./subcommand.ts";

/** The options; `withKey`: --key names the private key too (not for find). */
export function tlsOptions(withKey = true): ParseArgsOptionsConfig {
  return {
    tls: { type: "boolean" },
    cert: { type: "string" },
    "cert-key": { type: "string" },
    ...(withKey ? { key: { type: "string" } } : {}),
    ca: { type: "string" },
  };
}

export function tlsUsage(withKey = true): string[] {
  return [
    "  --tls             DICOM over TLS (TLS 1.2/1.3); the peer's certificate is verified",
    "  --cert FILE       our client certificate (PEM); its key may follow in the same file",
    withKey
      ? "  --key FILE        its private key (PEM); also --cert-key"
      : "  --cert-key FILE   its private key (PEM)",
    "  --ca FILE         CA certificates (PEM) trusted for the peer (default: the system's)",
  ];
}

const PEM_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** The connector the options ask for; a bad file or a flag without --tls is a UsageError. */
export async function scuConnector(
  values: Record<string, OptionValue>,
  withKey = true,
): Promise<Connector> {
  const cert = stringOption(values, "cert");
  let key = stringOption(values, "cert-key") ?? (withKey ? stringOption(values, "key") : undefined);
  const keyFlag = stringOption(values, "cert-key") !== undefined ? "--cert-key" : "--key";
  const ca = stringOption(values, "ca");
  if (values.tls !== true) {
    const stray = [cert && "--cert", key && keyFlag, ca && "--ca"].filter(Boolean);
    if (stray.length) throw new UsageError(`${stray.join(", ")} need --tls`);
    return tcpConnector;
  }
  try {
    // A certificate file that holds its key as well needs no separate key file.
    if (cert !== undefined && key === undefined) {
      const text = await Deno.readTextFile(cert).catch(() => "");
      if (PEM_KEY.test(text)) key = cert;
    }
    if (key !== undefined && cert === undefined) throw new UsageError(`${keyFlag} needs --cert`);
    if (cert !== undefined && key === undefined) {
      throw new UsageError(`--cert needs ${withKey ? "--key" : "--cert-key"}`);
    }
    const material = await loadTlsMaterial(
      { certificate: cert, privateKey: key, caCertificates: ca },
      { certificate: "--cert", privateKey: keyFlag, caCertificates: "--ca" },
    );
    return tlsConnector(material);
  } catch (e) {
    if (e instanceof TlsFileError) throw new UsageError(e.message);
    throw e;
  }
}
