# expect: compile error
if true { keep;
