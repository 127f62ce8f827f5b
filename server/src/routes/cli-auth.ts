import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './shared.js';

export default async function cliAuthRoutes(_app: FastifyInstance, _ctx: RouteContext): Promise<void> {}
