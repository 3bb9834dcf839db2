if true { }
if false { } else { }
