# expect: compile error
frobnicate;
