# syntax=docker/dockerfile:1
# MiniPACS in a container: the single executable on a distroless base (glibc, no shell).
#
#   docker build -t minipacs .
#   docker run -d --name minipacs -p 4242:4242 -p 8080:8080 -v minipacs-data:/data minipacs
#
# Configuration: the image holds a default /etc/minipacs/config.toml (below); mount your own
# over it (-v /srv/minipacs/config.toml:/etc/minipacs/config.toml:ro). Data: the /data volume.

# ---- build: compile src/main.ts into one executable -------------------------------------
FROM denoland/deno:2.9.6 AS build
WORKDIR /app
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY src ./src
COPY scripts ./scripts
RUN deno run --allow-all scripts/compile.ts --output /out/minipacs \
 && mkdir -p /out/data

# The image's default configuration. The web page listens on the container's loopback only
# (the HEALTHCHECK below reaches it there): MiniPACS refuses to serve it on other interfaces
# without [[http.users]]. To use it from outside, mount a configuration with
# http.bind = "0.0.0.0" and users (hashes from `minipacs hash-password`).
COPY <<EOF /out/config.toml
[server]
ae_title = "MINIPACS"
bind = "0.0.0.0"
port = 4242

[storage]
path = "/data"

[http]
enabled = true
bind = "127.0.0.1"
port = 8080
allow_anonymous_remote = false
users = []

[log]
level = "info"
format = "text"
EOF

# ---- runtime: the binary, the default config, an empty /data owned by the user ----------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/minipacs /usr/local/bin/minipacs
COPY --from=build /out/config.toml /etc/minipacs/config.toml
COPY --from=build --chown=65532:65532 /out/data /data
ENV MINIPACS_CONFIG=/etc/minipacs/config.toml
# distroless "nonroot": uid/gid 65532, no login shell.
USER 65532:65532
VOLUME ["/data"]
# DICOM, DICOM over TLS (once [tls] is enabled with certificates mounted), the web page.
EXPOSE 4242 2762 8080
# No curl in a distroless image: the binary checks its own /healthz (exit 0 healthy, 1 not).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/minipacs", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/minipacs"]
CMD ["serve"]
