/* Broken on purpose: a shared object without a plugin descriptor. */
__attribute__((visibility("default"))) int nodesc_answer(void);
int nodesc_answer(void) { return 42; }
