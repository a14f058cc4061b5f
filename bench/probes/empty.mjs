// An ES module that does nothing: what an ESM entry point costs over `node -e 0`.
