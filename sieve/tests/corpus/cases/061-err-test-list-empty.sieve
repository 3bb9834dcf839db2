# expect: compile error
if anyof () { keep; }
