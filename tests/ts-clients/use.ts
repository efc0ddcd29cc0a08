// Hand-written, never generated: what a browser app on the API's site does with each generated client
// (API.md section 20). It must type-check with `tsc --strict` against what the generators made of the served
// OpenAPI document, so a change to the document that breaks a client's types fails scripts/check-ts-clients.
import type { paths } from "./generated/openapi-typescript/schema";
import { client } from "./generated/hey-api/client.gen";
import { createClient, getMe, login } from "./generated/hey-api/sdk.gen";

// openapi-typescript: the types of paths, bodies and answers.
type LoginBody = paths["/api/auth/login"]["post"]["requestBody"]["content"]["application/json"];
type Me = paths["/api/auth/me"]["get"]["responses"]["200"]["content"]["application/json"];
type Refused = paths["/api/clients"]["post"]["responses"]["403"]["content"]["application/problem+json"];

export const cookieLogin: LoginBody = { email: "ada@example.com", password: "correct horse", session: "cookie" };
export const csrfOf = (me: Me): string | undefined => me.csrf_token;
export const refusedForCsrf = (problem: Refused): boolean => problem.code === "csrf_failed";

// @hey-api/openapi-ts: the SDK over fetch, the session in the HttpOnly cookie, the CSRF token in its header
// (the security scheme the document names), never a token in script.
export async function signInAndCreate(): Promise<string | undefined> {
  client.setConfig({ baseUrl: "https://api.example.com", credentials: "include" });
  const signedIn = await login({ body: cookieLogin });
  const csrf = signedIn.data?.csrf_token;
  client.setConfig({ auth: (scheme) => (scheme.type === "apiKey" && scheme.name === "X-CSRF-Token" ? csrf : undefined) });
  const created = await createClient({ body: { name: "Acme" } });
  if (created.error !== undefined) {
    return created.error.code;
  }
  const me = await getMe();
  return me.data === undefined ? undefined : csrfOf(me.data);
}
