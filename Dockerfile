# The worker binary in a small image. Build: docker build -t htdag/worker .
# Run:   docker run --rm -e DATABASE_URL=postgres://... htdag/worker run

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that code changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binary: the runtime image has no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/worker ./cmd/worker

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /usr/local/bin/worker
USER nonroot:nonroot
# `run` drains in-flight jobs on SIGTERM for --shutdown-timeout (30s): give
# the container that long to stop (docker stop -t 45, compose
# stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/worker"]
CMD ["run"]
