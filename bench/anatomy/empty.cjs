// A CommonJS module that does nothing: what a CommonJS entry point costs over `node -e 0`.
