"""The language server: one services object, thin LSP handlers registered in one place."""
