// Module resolution hook for register.mjs.
const LOCAL = new URL('./local-client.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === '@portcullis/service-client' && context.parentURL !== LOCAL) return { url: LOCAL, shortCircuit: true };
  return next(specifier, context);
}
