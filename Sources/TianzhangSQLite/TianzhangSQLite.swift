// TianzhangSQLite
