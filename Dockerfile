# The dbops worker image. Connects to the Temporal server named by TEMPORAL_ADDRESS.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# The workflow bundles are built here once (dist/workflows.bundle.js, and dist/workflows.otel.bundle.js
# for traces), not at every worker start.
RUN npx tsc -p . && node dist/build-workflow-bundle.js && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
ENTRYPOINT ["node", "dist/worker.js"]
