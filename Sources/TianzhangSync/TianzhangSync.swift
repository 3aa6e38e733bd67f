// TianzhangSync
