// TianzhangSeed
