#!/usr/bin/env bash
# Installs the tarball `npm pack` makes into a scratch app (Prisma 7, its own schema) and runs
# it there: types, transactional enqueue, `npx arrower-jobs migrate`, `worker` until SIGTERM.
# A file missing from "files", a source-only import or a broken bin fails here, not for a user.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
: "${DATABASE_URL:?DATABASE_URL must point at a PostgreSQL database}"
export DATABASE_URL ARROWER_SCHEMA="smoke_$$"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
listing="$(tar -tzf "$work/$tarball")"
echo "packed $tarball: $(wc -l <<<"$listing") files"
for required in package/dist/index.js package/dist/index.d.ts package/dist/testing.js package/dist/cli/main.js package/migrations/000001.sql package/prisma/arrower-jobs.prisma; do
  grep -qx "$required" <<<"$listing" || { echo "missing from the package: $required" >&2; exit 1; }
done

app="$work/app"
mkdir -p "$app"
cp "$root"/.ci/package-app/* "$app/"
cd "$app"
# The same Prisma versions the library is developed and tested with.
version_of() { node -p "require('$root/node_modules/$1/package.json').version"; }
cat > package.json <<JSON
{ "name": "scratch-app", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --loglevel=error "$work/$tarball" "@prisma/client@$(version_of @prisma/client)" \
  "@prisma/adapter-pg@$(version_of @prisma/adapter-pg)" "prisma@$(version_of prisma)" pg tsx typescript@5.9.3 @types/node@20 @types/pg >/dev/null
PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 node_modules/.bin/prisma generate >/dev/null
node_modules/.bin/tsc -p tsconfig.json
echo "types: ok"

node_modules/.bin/arrower-jobs migrate --config arrower-jobs.config.ts
if node_modules/.bin/arrower-jobs migrate --check --config arrower-jobs.config.ts; then echo "migrate --check: up to date"; else echo "migrate --check failed after migrate" >&2; exit 1; fi
node_modules/.bin/tsx app.ts setup

# Not through npx: it does not pass SIGTERM on to the worker.
node_modules/.bin/arrower-jobs worker --config arrower-jobs.config.ts > worker.log 2>&1 &
worker=$!
for _ in $(seq 1 60); do
  if node_modules/.bin/tsx app.ts check >/dev/null 2>&1; then break; fi
  sleep 0.5
done
kill -TERM "$worker"
wait "$worker" || { echo "worker exited non-zero:" >&2; cat worker.log >&2; exit 1; }
cat worker.log
node_modules/.bin/tsx app.ts check
psql_drop="DROP SCHEMA IF EXISTS \"$ARROWER_SCHEMA\" CASCADE"
node -e "const pg=require('pg');const c=new pg.Client(process.env.DATABASE_URL);c.connect().then(()=>c.query(process.argv[1])).then(()=>c.end())" "$psql_drop"
echo "package smoke test: ok"
