# Node 22 for the Raycast extension's tooling. Source it after lib.sh.
#
# @raycast/api 1.104, vitest 5 and jsdom need Node >= 22.22; Debian offers 18. The npm
# package `node@22.23.3` ships the official Node binary (and its headers, which
# better-sqlite3 compiles against), so any npm can bootstrap it into the cache folder,
# outside the clone. npm's own cache lives there too, so reinstalls are offline-fast.

NODE_VERSION=22.23.3
NODE_HOME="$MURMUR_CACHE/node22"
NODE_BIN="$NODE_HOME/node_modules/node/bin"

if [ "$("$NODE_BIN/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  command -v npm >/dev/null 2>&1 || apt_ensure nodejs npm
  log "installing Node $NODE_VERSION (npm package node@$NODE_VERSION) into $NODE_HOME"
  mkdir -p "$NODE_HOME"
  retry 3 npm install --prefix "$NODE_HOME" --no-save --no-audit --no-fund \
    --cache "$MURMUR_CACHE/npm" "node@$NODE_VERSION" >/dev/null
  [ "$("$NODE_BIN/node" --version 2>/dev/null)" = "v$NODE_VERSION" ] || die "Node $NODE_VERSION did not install"
fi
export PATH="$NODE_BIN:$PATH"
export npm_config_cache="$MURMUR_CACHE/npm"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Native modules build against this Node's headers, not a download from nodejs.org.
for NODE_HEADERS in "$NODE_HOME"/node_modules/node/node_modules/node-{linux,darwin}-*/; do
  [ -f "$NODE_HEADERS/include/node/node.h" ] && export npm_config_nodedir="${NODE_HEADERS%/}"
done

# npm_install DIR: install DIR's locked dependencies, unless node_modules already matches
# package.json and package-lock.json (a stamp of their hashes).
npm_install() {
  local dir="$1" stamp want
  stamp="$dir/node_modules/.murmur-stamp"
  want="$(cat "$dir/package.json" "$dir/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1) node-$NODE_VERSION"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "npm install in ${dir#"$MURMUR_ROOT"/}"
  # `npm install` keeps the versions the lock pins (`npm ci` refuses termcast's lock:
  # optional platform packages declared without a version read as missing).
  (cd "$dir" && retry 3 npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
}
