#!/bin/sh
# Create the broker password file: one login per school (user name = school code) and the central logins.
# Usage: make_passwords.sh PASSWD_FILE SCHOOLS_CSV
#   SCHOOLS_CSV lines: school_code,password     (plus lines for central-ingest and ioc)
# Passwords are hashed by mosquitto_passwd (sha512-pbkdf2); the CSV must be deleted afterwards.
set -eu
out=${1:?password file}
csv=${2:?csv of user,password}
umask 077
: > "$out"
while IFS=, read -r user pass; do
  case "$user" in ''|\#*) continue ;; esac
  printf '%s' "$user" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$' || { echo "bad user name: $user" >&2; exit 1; }
  mosquitto_passwd -b "$out" "$user" "$pass"
done < "$csv"
echo "wrote $(wc -l < "$out") logins to $out"
