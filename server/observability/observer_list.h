// Fans ServingObserver events out to several observers (metrics, request log).
//
// Contract: Add() every observer before the first event (not synchronised with events); events go
// to the observers in the order they were added.
#pragma once

#include <string>
#include <vector>

#include "server/core/serving_observer.h"

namespace beit::serving {

class ObserverList final : public ServingObserver {
 public:
  void Add(ServingObserver* observer) { observers_.push_back(observer); }

  void RequestFinished(const RequestRecord& record) override {
    for (ServingObserver* o : observers_) o->RequestFinished(record);
  }
  void BatchStarted(const std::string& model, const std::string& rpc, int instance) override {
    for (ServingObserver* o : observers_) o->BatchStarted(model, rpc, instance);
  }
  void BatchFinished(const std::string& model, const std::string& rpc, int instance, int batch_size,
                     double seconds) override {
    for (ServingObserver* o : observers_) o->BatchFinished(model, rpc, instance, batch_size, seconds);
  }

 private:
  std::vector<ServingObserver*> observers_;
};

}  // namespace beit::serving
