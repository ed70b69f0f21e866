// XMLHttpRequest over fetch, for browser libraries run under Deno (dicomweb-client): the
// asynchronous subset they use (open, setRequestHeader, responseType, send, status,
// response, response headers, onreadystatechange/onload/onerror).

export class FetchXmlHttpRequest {
  readyState = 0;
  status = 0;
  statusText = "";
  responseType: "" | "arraybuffer" | "json" | "text" = "";
  response: unknown = null;
  responseText = "";
  withCredentials = false;
  onreadystatechange: (() => void) | null = null;
  onload: (() => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  onloadstart: (() => void) | null = null;
  onloadend: (() => void) | null = null;
  onprogress: (() => void) | null = null;
  #method = "GET";
  #url = "";
  #headers = new Headers();
  #responseHeaders = new Headers();

  open(method: string, url: string): void {
    this.#method = method;
    this.#url = url;
    this.readyState = 1;
  }

  setRequestHeader(name: string, value: string): void {
    this.#headers.set(name, value);
  }

  getResponseHeader(name: string): string | null {
    return this.#responseHeaders.get(name);
  }

  getAllResponseHeaders(): string {
    return [...this.#responseHeaders].map(([k, v]) => `${k}: ${v}\r\n`).join("");
  }

  send(body?: BodyInit | null): void {
    this.onloadstart?.();
    fetch(this.#url, { method: this.#method, headers: this.#headers, body: body ?? undefined })
      .then(async (res) => {
        this.status = res.status;
        this.statusText = res.statusText;
        this.#responseHeaders = res.headers;
        const bytes = await res.arrayBuffer();
        const text = () => new TextDecoder().decode(bytes);
        if (this.responseType === "arraybuffer") this.response = bytes;
        else if (this.responseType === "json") {
          this.response = bytes.byteLength ? JSON.parse(text()) : null;
        } else {
          this.responseText = text();
          this.response = this.responseText;
        }
        this.readyState = 4;
        this.onreadystatechange?.();
        this.onload?.();
        this.onloadend?.();
      })
      .catch((e) => {
        this.readyState = 4;
        this.status = 0;
        this.onreadystatechange?.();
        this.onerror?.(e);
      });
  }
}

/** Installs the shim as globalThis.XMLHttpRequest (unless the runtime has one). */
export function installXmlHttpRequest(): void {
  const g = globalThis as unknown as { XMLHttpRequest?: unknown };
  g.XMLHttpRequest ??= FetchXmlHttpRequest;
}
