# expect: compile error
if size 100 { keep; }
