# pilotlight's image: the static pilotlight binary on distroless/static, and
# nothing else. The binary is built outside (make image builds both); the
# build pulls nothing but the base image.
#
#   make image                      # bin/linux-amd64/pilotlight, then docker build -t pilotlight:dev
#   kind load docker-image pilotlight:dev
#
# The same image runs `pilotlight serve` (deploy/deployment.yaml, as user
# 65532) and the injected init container `pilotlight init-capture` (as root
# with NET_ADMIN and NET_RAW: it programs nftables over netlink, no binary).
FROM gcr.io/distroless/static-debian12:nonroot
ARG TARGETARCH=amd64
COPY bin/linux-${TARGETARCH}/pilotlight /pilotlight
USER 65532:65532
ENTRYPOINT ["/pilotlight"]
