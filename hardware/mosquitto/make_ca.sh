#!/bin/sh
# A small CA for the pilot: ca.crt (give it to every edge agent as EDGE_MQTT_TLS_CA) and the broker's
# server certificate for HOST. Usage: make_ca.sh OUT_DIR HOST [DAYS]
set -eu
out=${1:?output dir}
host=${2:?broker host name or IP}
days=${3:-825}
mkdir -p "$out"
umask 077
cd "$out"
if [ ! -f ca.key ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.crt -days 3650 \
    -subj "/O=So GD&DT/CN=soctrang-edu pilot MQTT CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
fi
case "$host" in
  *[!0-9.]*) san="DNS:$host" ;;
  *) san="IP:$host" ;;
esac
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=$host"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days "$days" \
  -extfile server.ext
rm -f server.csr server.ext
chmod 644 ca.crt server.crt
echo "CA: $out/ca.crt  server: $out/server.crt (SAN $san)"
