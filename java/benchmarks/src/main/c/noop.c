/* The floor under wafermon's hot JNI calls (JavaSide.jni*): the same call shapes as
 * Native.jobProgress, doing nothing but what java/native/src/bytes.rs does before the core
 * is reached. NoOp compiles this with the system's C compiler at run time. */
#include <jni.h>
#include <string.h>

JNIEXPORT void JNICALL Java_io_wafermon_benchmarks_NoOp_primitive(JNIEnv *env, jclass cls, jlong handle) {
    (void) env;
    (void) cls;
    (void) handle;
}

JNIEXPORT void JNICALL Java_io_wafermon_benchmarks_NoOp_progress(JNIEnv *env, jclass cls, jlong handle,
                                                                jdouble percent, jbyteArray message, jint len) {
    (void) cls;
    (void) handle;
    (void) percent;
    if (message == NULL) {
        return;
    }
    jsize have = (*env)->GetArrayLength(env, message);
    if (len < 0 || len > have || len > 256) {
        return;
    }
    unsigned char buf[256];
    (*env)->GetByteArrayRegion(env, message, 0, len, (jbyte *) buf);
    /* Keep the copy from being optimized away. */
    __asm__ volatile("" : : "r"(buf) : "memory");
}
