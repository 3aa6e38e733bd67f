// TianzhangReference
