"""Model families (FramePack, ...). Importing this package loads no weights and touches no CUDA API."""
