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
EXPOSE 8080
ENTRYPOINT ["/pkgserver", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]
