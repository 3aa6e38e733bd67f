// TianzhangStore
