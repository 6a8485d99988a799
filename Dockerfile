# The csdr controller image: `csdr server` (and the rest of the csdr CLI).
# Build: docker build -t csdr:latest .   (not built in CI)
#
# Dynamically linked against glibc: the TLS stack (rustls on aws-lc-rs) builds C code, which
# makes a static musl build need a C cross toolchain; distroless/cc carries only glibc and
# libgcc, so the image stays small.
FROM rust:1.89-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN K8S_OPENAPI_ENABLED_VERSION=1.33 cargo build --release --example csdr \
 && cp target/release/examples/csdr /csdr

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /csdr /usr/local/bin/csdr
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/csdr"]
CMD ["server", "--cluster", "kube", "--namespace", "csdr"]
