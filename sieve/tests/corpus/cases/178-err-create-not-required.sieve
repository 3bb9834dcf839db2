# expect: compile error
require "fileinto";
fileinto :create "X";
