// Health endpoints for load balancers and container runtimes: no token, and ready only with the database and delivery.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

test('live and ready answer without a token while the database is up and migrated', async () => {
  await request(gw.app).get('/health/live').expect(200, { status: 'pass' });
  const ready = await request(gw.app).get('/health/ready').expect(200);
  expect(ready.body.checks).toEqual({ database: 'pass', migrations: 'pass', delivery: 'pass', listen: 'pass' });
});

test('ready fails once the delivery worker has stopped (shutdown), so a load balancer sends no more', async () => {
  const other = await startTestGateway();
  try {
    await request(other.app).get('/health/ready').expect(200);
    await other.gateway.close();
    const ready = await request(other.app).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.delivery).toBe('fail');
  } finally {
    await other.stop();
  }
});

test('ready fails when the database is gone', async () => {
  await gw.gateway.db.close();
  const ready = await request(gw.app).get('/health/ready');
  expect(ready.status).toBe(503);
  expect(ready.body.status).toBe('fail');
  await request(gw.app).get('/health/live').expect(200);
});
