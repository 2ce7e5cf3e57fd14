/*
 * no_entry — a test plugin that exports no te_operator_plugin_entry; the loader must
 * say the symbol is missing. Threading: none (never runs).
 */
int te_not_an_entry(void);
int te_not_an_entry(void) { return 42; }
