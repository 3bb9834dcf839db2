# expect: compile error
keep;
require "fileinto";
