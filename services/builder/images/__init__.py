"""The builder's Docker artifact: an image built through a Docker-API engine from a generated Dockerfile."""
