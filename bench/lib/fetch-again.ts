/**
 * `fetch`, once more when the server closed the kept-alive connection just as it was reused (undici: "other side
 * closed"). The gateway closes a connection idle for HTTP_KEEP_ALIVE_TIMEOUT_MS (5 s), and a benchmark that
 * alternates slices between servers leaves each one's connections idle about that long: without this, a run of
 * several minutes could end on the race. Only for the benchmark's own bookkeeping (setup, /metrics), whose requests
 * are safe to send twice; the measured calls count a failure as an error instead.
 */
export async function fetchAgain(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') throw err;
    return fetch(url, init);
  }
}
