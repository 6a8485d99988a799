# The csdr controller image: `csdr server` (and the rest of the csdr CLI).
# Build: docker build -t csdr:latest .   (not built in CI)
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# The example binary, statically linked against musl where possible.
RUN rustup target add x86_64-unknown-linux-musl \
 && apt-get update && apt-get install -y --no-install-recommends musl-tools \
 && K8S_OPENAPI_ENABLED_VERSION=1.33 cargo build --release --example csdr --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/examples/csdr /csdr

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /csdr /usr/local/bin/csdr
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/csdr"]
CMD ["server", "--cluster", "kube", "--namespace", "csdr"]
