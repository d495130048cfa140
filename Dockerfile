# Build: docker build -t pkgserver .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /pkgserver ./cmd/pkgserver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /pkgserver /pkgserver
VOLUME /data
EXPOSE 8443
# TLS, static tokens, RBAC and the audit log (on standard output) are on; the
# files are mounted under /etc/pkgserver (deploy/pkgserver.yaml shows how,
# docs/security.md says what they hold). Without them pkgserver does not start.
ENTRYPOINT ["/pkgserver", "--listen", "0.0.0.0:8443", "--data-dir", "/data", \
  "--tls-cert-file", "/etc/pkgserver/tls/tls.crt", "--tls-private-key-file", "/etc/pkgserver/tls/tls.key", \
  "--token-auth-file", "/etc/pkgserver/tokens/tokens.csv", \
  "--authorization-policy-file", "/etc/pkgserver/policy/policy.yaml", \
  "--audit-log-path", "-"]
