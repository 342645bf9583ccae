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
echo "packed $tarball: $(tar -tzf "$work/$tarball" | wc -l) files"
for required in package/dist/index.js package/dist/index.d.ts package/dist/testing.js package/dist/cli/main.js package/migrations/000001.sql; do
  tar -tzf "$work/$tarball" | grep -qx "$required" || { echo "missing from the package: $required" >&2; exit 1; }
done

app="$work/app"
mkdir -p "$app"
cp "$root"/.ci/package-app/* "$app/"
cd "$app"
prisma_version="$(node -p "require('$root/node_modules/prisma/package.json').version")"
cat > package.json <<JSON
{ "name": "scratch-app", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --silent "$work/$tarball" "@prisma/client@$prisma_version" "@prisma/adapter-pg@$prisma_version" "prisma@$prisma_version" pg tsx typescript@5.9.3 @types/node@20 @types/pg >/dev/null
PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 npx --no prisma generate >/dev/null
npx --no tsc -p tsconfig.json
echo "types: ok"

npx --no arrower-jobs migrate --config arrower-jobs.config.ts
if npx --no arrower-jobs migrate --check --config arrower-jobs.config.ts; then echo "migrate --check: up to date"; else echo "migrate --check failed after migrate" >&2; exit 1; fi
npx --no tsx app.ts setup

npx --no arrower-jobs worker --config arrower-jobs.config.ts > worker.log 2>&1 &
worker=$!
for _ in $(seq 1 60); do
  if npx --no tsx app.ts check >/dev/null 2>&1; then break; fi
  sleep 0.5
done
kill -TERM "$worker"
wait "$worker" || { echo "worker exited non-zero:" >&2; cat worker.log >&2; exit 1; }
cat worker.log
npx --no tsx app.ts check
psql_drop="DROP SCHEMA IF EXISTS \"$ARROWER_SCHEMA\" CASCADE"
node -e "const pg=require('pg');const c=new pg.Client(process.env.DATABASE_URL);c.connect().then(()=>c.query(process.argv[1])).then(()=>c.end())" "$psql_drop"
echo "package smoke test: ok"
