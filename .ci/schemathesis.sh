#!/usr/bin/env bash
# Property-based API test: serve the app on a free localhost port against a throwaway SQLite database,
# then let Schemathesis call every operation in /api/schema/ with generated (valid and invalid) input.
# Fails on any 5xx and on any response that does not match the schema. Bounded: a few minutes at most.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
BIN="$(dirname "$PY")"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-20}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A production-like process (DEBUG off) on its own database and no broker: nothing shared with the tests.
unset REDIS_URL
export DATABASE_URL="sqlite:///${work}/db.sqlite3"
export DEBUG=false
export SECRET_KEY="schemathesis-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
export ALLOWED_HOSTS="127.0.0.1,localhost"
export SECURE_SSL_REDIRECT=false SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false SECURE_HSTS_SECONDS=0
export EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
# Schemathesis tries many unknown loyalty IDs a minute; with the production limit (30) the key would soon get
# only 429s for member look-ups and never reach their success paths. tests/loyalty/test_api_lookup_limits.py
# covers the limit itself.
export API_LOOKUP_MISSES_PER_MINUTE=1000000

"$PY" manage.py migrate --noinput -v 0
key="$("$PY" manage.py create_api_key --store "Schemathesis" --create --scope admin | tail -n 1)"
# One real member with some history and a signed-in session, so that /members/{loyalty_id}/... and the
# session-authenticated /me/... operations reach their success paths too (not only 401/404).
read -r loyalty_id session_key csrf_token < <("$PY" manage.py shell -v 0 -c '
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.middleware.csrf import _get_new_csrf_string
from loyalty.services.ledger import Audit, points_credit
from members.models import User
from members.services import member_create
user = User.objects.create_user("fuzz@example.com", "fuzz-password-not-used")
member = member_create(email=user.email, first_name="Fuzz", user=user)
points_credit(member=member, points=500, audit=Audit(reason="seed", idempotency_key="seed"))
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(member.loyalty_id, session.session_key, _get_new_csrf_string())
' | tail -n 1)
if [ -z "${csrf_token:-}" ]; then echo "could not seed the schemathesis database" >&2; exit 1; fi

cat > "$work/schemathesis.toml" <<TOML
# Nothing persists between runs (no crash cache in the work tree): every CI run starts fresh.
[cache]
enabled = false

[dictionaries.members]
values = ["${loyalty_id}"]

[dictionaries.stores]
values = ["schemathesis"]

[parameters]
"path.loyalty_id" = { dictionary = "members", probability = 0.7 }
"path.slug" = { dictionary = "stores", probability = 0.7 }
TOML

port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"$BIN/gunicorn" loyalty.wsgi:application --bind "127.0.0.1:${port}" --workers 2 --timeout 60 \
  --access-logfile /dev/null --error-logfile "$work/server.log" --capture-output &
server_pid=$!

status=0
"$BIN/schemathesis" --config-file "$work/schemathesis.toml" run "http://127.0.0.1:${port}/api/schema/" \
  --header "Authorization: Api-Key ${key}" \
  --header "Cookie: sessionid=${session_key}; csrftoken=${csrf_token}" \
  --header "X-CSRFToken: ${csrf_token}" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --phases examples,coverage,fuzzing \
  --workers 1 \
  --wait-for-schema 60 \
  --request-timeout 30 \
  --generation-database ":memory:" \
  --seed "${SCHEMATHESIS_SEED:-20261122}" \
  --no-color || status=$?

if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
  echo "== server log without the 4xx lines (last 120 lines)"
  grep -v -E '^(Bad Request|Unauthorized|Forbidden|Not Found|Method Not Allowed|Conflict|Unsupported Media Type|Unprocessable Content|Unprocessable Entity|Too Many Requests): ' \
    "$work/server.log" | tail -n 120 || true
fi
exit "$status"
