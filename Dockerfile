# Passerelle gateway image: the CLI `passerelle`, serving on 8080 with the embedded SQLite store in /data.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm install honours the lockfile; see .ci/run for why not npm ci.
RUN npm install --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
# Listen on every interface of the container, and refuse to start with authentication off unless
# PASSERELLE_INSECURE_DEV=1 (docs/security.md, "Hardening and secure defaults").
ENV NODE_ENV=production PORT=8080 PASSERELLE_DATA=/data HOST=0.0.0.0 PASSERELLE_REQUIRE_AUTH=1
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY profiles ./profiles
COPY mappings ./mappings
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
VOLUME ["/data"]
# Liveness over HTTPS when `tls` is configured (the local check does not verify the certificate), else plain HTTP.
HEALTHCHECK CMD node -e "const p=process.env.PORT||8080,o={host:'127.0.0.1',port:p,path:'/healthz'},ok=r=>process.exit(r.statusCode===200?0:1);require('https').get({...o,rejectUnauthorized:false},ok).on('error',()=>require('http').get(o,ok).on('error',()=>process.exit(1)))"
# The same Node option as the launcher's shebang (see bin/passerelle.js).
ENTRYPOINT ["node", "--max-semi-space-size=64", "bin/passerelle.js"]
CMD ["serve"]
