// bentocache's redis driver imports @boringnode/bus, which imports `ioredis` from the
// workspace root; npm currently installs ioredis only inside the workspaces that declare
// it. Until the lock file hoists it again, resolve that one import to the bench's own copy.
import { registerHooks } from 'node:module';

const own = import.meta.resolve('ioredis');
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (error) {
      if (specifier === 'ioredis') return next(own, context);
      throw error;
    }
  },
});
