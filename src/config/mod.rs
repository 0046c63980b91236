//! keepalived.conf: lexer, expansion, keyword tree, typed model, validation.
