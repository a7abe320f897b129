#!/bin/sh
# Create the broker password file: one login per school (user name = school code) and the central logins.
# Usage: make_passwords.sh PASSWD_FILE SCHOOLS_CSV
#   SCHOOLS_CSV lines: school_code,password     (plus lines for central-ingest and ioc)
#   Several ingest workers in one \$share group: one login each, central-ingest-1 .. central-ingest-99 (their client
#   ids are their user names, so that each keeps its own persistent session); add them to the acl too.
# Passwords are hashed by mosquitto_passwd (sha512-pbkdf2); the CSV must be deleted afterwards.
set -eu
out=${1:?password file}
csv=${2:?csv of user,password}
umask 077
: > "$out"
while IFS=, read -r user pass; do
  case "$user" in ''|\#*) continue ;; esac
  printf '%s' "$user" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$' || { echo "bad user name: $user" >&2; exit 1; }
  # the central logins are named below; a school code may never look like one (the broker binds a school's
  # client id to its login, and the central processes' ids start with these names)
  case "$user" in
    central-ingest|central-ingest-[0-9]|central-ingest-[0-9][0-9]|ioc) ;;
    central*|ioc*) echo "reserved user name: $user (central-ingest[-N] and ioc only)" >&2; exit 1 ;;
  esac
  mosquitto_passwd -b "$out" "$user" "$pass"
done < "$csv"
echo "wrote $(wc -l < "$out") logins to $out"
