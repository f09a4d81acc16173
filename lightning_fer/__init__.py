"""Children facial-expression recognition with DALI + PyTorch Lightning."""
