#!/usr/bin/env bash
# The Debian packages the tests need. Building AWS's Lambda runtime interface client (npm
# `aws-lambda-ric`) needs autoconf, automake and libtool for its bundled curl, cmake for
# aws-lambda-cpp, a C++ compiler and python3 for node-gyp; python3-venv makes the virtualenvs that
# PyPI tools are installed into (cfn-lint: infra/cfn-lint.ts; moto, the Glue Schema Registry:
# infra/glue-registry.ts). `.ci/run` calls this before `npm ci`; a developer runs it once (`npm
# test` then builds the client: infra/lambda-runtime.ts). Installs only what is missing.
set -euo pipefail

packages=(autoconf automake libtool cmake python3 python3-venv g++ make xz-utils)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "apt packages: all present (${packages[*]})"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "apt packages: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
