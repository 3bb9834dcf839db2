if anyof(true,false){discard;}
